"""Searches through warm crawlers: the Redis queue, the result stream, and the spiders' side of them."""
