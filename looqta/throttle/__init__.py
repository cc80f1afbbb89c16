"""Resource-aware concurrency: collect, decide, act on the controls components register.

The module layout and who registers which control: docs/throttle.md ("Modules").
:class:`looqta.throttle.extension.ThrottleExtension` wires the parts on a looping call.
"""
