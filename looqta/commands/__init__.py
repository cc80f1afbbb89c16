"""looqta's ``scrapy`` commands (``COMMANDS_MODULE``)."""
