"""Validates OCSF records (one JSON object per line) against ocsf-pydantic's models, offline.

usage: python validate_ocsf.py FILE
Prints "valid N" and exits 0, or names the first invalid line and exits 1.
"""
import json
import sys

import ocsf
from ocsf.events.findings.detection import DetectionFinding


def main() -> int:
    n = 0
    for i, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        if record.get("class_uid") != 2004:
            print(f"line {i}: class_uid {record.get('class_uid')}, not a Detection Finding (2004)")
            return 1
        if record.get("metadata", {}).get("version") != ocsf.OCSF_VERSION:
            print(f"line {i}: OCSF version {record.get('metadata', {}).get('version')}, the models are {ocsf.OCSF_VERSION}")
            return 1
        try:
            DetectionFinding.model_validate(record)
        except Exception as e:  # pydantic's ValidationError names every field that is wrong
            print(f"line {i}: {e}")
            return 1
        n += 1
    print(f"valid {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
