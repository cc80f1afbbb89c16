"""The search service (issue 20): ``python -m looqta.serve``, FastAPI on uvicorn, offers streamed over SSE."""
