"""Packaging for Scrapyd: ``scrapyd-deploy`` builds an egg of the ``looqta`` package from this."""

from setuptools import find_packages, setup

setup(
    name="looqta",
    version="0.1.0",
    packages=find_packages(include=["looqta", "looqta.*"]),
    entry_points={"scrapy": ["settings = looqta.settings"]},
)
