"""Plain HTTP or the browser, decided per site and page type at run time (``adaptive``)."""
