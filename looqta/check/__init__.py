"""The canary: ``python -m looqta.check SITE`` crawls one search of a site and says how it went.

Per page type it shows how many pages and results were read, each field's coverage and which
fallback served it (``looqta/fields/...`` stats, :mod:`looqta.extract`), then block pages, robots
refusals, the finish reason and the run-health verdict (:mod:`looqta.health`, same thresholds).
"""
