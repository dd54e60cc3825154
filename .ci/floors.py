"""Print pip constraints pinning every dependency of evjax (and of its test and parquet extras)
to its declared floor: CI's floor job installs these, so a floor is a version that was tested.

Usage: python3 .ci/floors.py > constraints.txt; pip install -c constraints.txt -e ".[test]"
"""

import re
import sys
import tomllib
from pathlib import Path

EXTRAS = ("test", "parquet")  # the extras the floor job installs

project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
requirements = list(project["dependencies"])
for extra in EXTRAS:
    requirements += project["optional-dependencies"][extra]
pins = {}
for requirement in requirements:
    name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
    floor = re.search(r">=\s*([^,;\s]+)", requirement)
    if floor is None:
        sys.exit(f"floors.py: {requirement!r} declares no floor (>=): every dependency needs one")
    if pins.setdefault(name, floor.group(1)) != floor.group(1):
        sys.exit(f"floors.py: {name} has two floors, {pins[name]} and {floor.group(1)}")
for name, version in sorted(pins.items()):
    print(f"{name}=={version}")
