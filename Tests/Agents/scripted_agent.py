"""A real agent framework driven through a scripted session, for Tether's agent tests.

mini-swe-agent's own DefaultAgent and LocalEnvironment run each step's command in a
shell, exactly as with a language model; its DeterministicModel (the framework's test
model) plays the model's part, answering with the commands of a script in turn.

usage: python scripted_agent.py SCRIPT.json WORKSPACE TRAJECTORY.json
SCRIPT.json: {"task": "...", "steps": [{"thought": "...", "command": "..."}, ...]}
The last step should submit (print COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT, then the claim).
The trajectory is the framework's own file (its messages: every command's output).
"""
import json
import os
import sys
from pathlib import Path

from minisweagent.agents.default import DefaultAgent
from minisweagent.environments.local import LocalEnvironment
from minisweagent.models.test_models import DeterministicModel, make_output


def main() -> int:
    script_path, workspace, trajectory = sys.argv[1:4]
    script = json.loads(Path(script_path).read_text())
    outputs = [
        make_output(f"THOUGHT: {s.get('thought', '')}\n\n```bash\n{s['command']}\n```", [{"command": s["command"]}])
        for s in script["steps"]
    ]
    agent = DefaultAgent(
        DeterministicModel(outputs=outputs),
        LocalEnvironment(cwd=workspace, timeout=120),
        system_template="You are a helpful assistant that can run bash commands.",
        instance_template="{{task}}",
        step_limit=len(outputs) + 1,
        cost_limit=0,
        output_path=Path(trajectory),
    )
    result = agent.run(script["task"])
    print(json.dumps({"exit_status": result.get("exit_status"), "pid": os.getpid()}))
    return 0 if result.get("exit_status") == "Submitted" else 1


if __name__ == "__main__":
    sys.exit(main())
