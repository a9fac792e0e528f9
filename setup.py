"""Packages are found, never listed by hand (pyproject.toml holds everything else).

domains/ and recipes/ stay at the top of the repo and ship inside the wheel as the data packages
verticalize._domains and verticalize._recipes (mapped in pyproject.toml's package-dir).
"""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["verticalize", "verticalize.*"]) + ["verticalize._domains", "verticalize._recipes"])
