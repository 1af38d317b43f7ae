"""Validates OCSF records (one JSON object per line) against ocsf-pydantic's models, offline.

usage: python validate_ocsf.py FILE
Alerts are Detection Findings (2004); session events are Process Activity (1007), File
System Activity (1001) and Network Activity (4001). A record of any other class, of
another OCSF version, or whose type_uid / category_uid disagree with its class and
activity is invalid. Prints "valid N" and exits 0, or names the first invalid line and
exits 1.
"""
import json
import sys
from enum import Enum

import ocsf
from ocsf.events.findings.detection import DetectionFinding
from ocsf.events.network.network_activity import NetworkActivity
from ocsf.events.system.filesystem import FileSystemActivity, FileSystemActivityActivityId
from ocsf.events.system.process import ProcessActivity, ProcessActivityActivityId


def with_base_ids(name, ids):
    """`ids` plus the Unknown (0) and Other (99) every OCSF 1.2.0 activity_id has (from
    the base event); ocsf-pydantic 0.0.6's enums for these classes leave them out."""
    members = {m.name: m.value for m in ids} if isinstance(ids, type) else dict(ids)
    return Enum(name, {"Unknown": 0, **members, "Other": 99})


class ProcessActivity120(ProcessActivity):
    activity_id: with_base_ids("ProcessActivityId", ProcessActivityActivityId) | None = None


class FileSystemActivity120(FileSystemActivity):
    activity_id: with_base_ids("FileSystemActivityId", FileSystemActivityActivityId) | None = None


class NetworkActivity120(NetworkActivity):
    # ocsf-pydantic 0.0.6 gives Network Activity only the base event's ids; these are 1.2.0's
    activity_id: with_base_ids("NetworkActivityId", [("Open", 1), ("Close", 2), ("Reset", 3), ("Fail", 4),
                                                     ("Refuse", 5), ("Traffic", 6), ("Listen", 7)]) | None = None


MODELS = {
    2004: DetectionFinding,
    1007: ProcessActivity120,
    1001: FileSystemActivity120,
    4001: NetworkActivity120,
}


def main() -> int:
    n = 0
    for i, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        model = MODELS.get(record.get("class_uid"))
        if model is None:
            print(f"line {i}: class_uid {record.get('class_uid')}, not one of {sorted(MODELS)}")
            return 1
        if record.get("metadata", {}).get("version") != ocsf.OCSF_VERSION:
            print(f"line {i}: OCSF version {record.get('metadata', {}).get('version')}, the models are {ocsf.OCSF_VERSION}")
            return 1
        try:
            parsed = model.model_validate(record)
            # the models compute these from class and activity, and ignore what the record says
            expected = (("type_uid", parsed.type_uid), ("category_uid", parsed.category_uid.value))
        except Exception as e:  # pydantic's ValidationError names every field that is wrong
            print(f"line {i}: {e}")
            return 1
        for field, want in expected:
            if record.get(field) != want:
                print(f"line {i}: {field} {record.get(field)}, expected {want} for class {record['class_uid']}")
                return 1
        n += 1
    print(f"valid {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
