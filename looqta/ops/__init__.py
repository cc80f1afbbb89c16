"""Operations: Scrapyd server and deployment, per-site schedules, manual runs, status."""
