"""Offline stand-ins of the target sites (amazon.ae, noon.com), served on 127.0.0.1.

Run ``python -m looqta.sandbox --port 0``; from Python use ``looqta.sandbox.client.SandboxProcess``.
"""
