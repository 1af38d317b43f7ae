print("tether-bench: not yet")
