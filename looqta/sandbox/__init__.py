"""Offline stand-ins of the target sites, served on 127.0.0.1 (one module each in ``sites/``).

Run ``python -m looqta.sandbox --port 0``; from Python use ``looqta.sandbox.client.SandboxProcess``.
"""
