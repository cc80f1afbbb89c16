"""Resource-aware concurrency: collect, decide, act.

* :mod:`looqta.throttle.config`  the settings, parsed and validated once (:class:`ThrottleConfig`);
* :mod:`looqta.throttle.sampler` collect: timestamped readings of the machine (psutil), the crawl's
  process tree, the event loop and the crawl's counters, kept for one window;
* :mod:`looqta.throttle.decide`  decide: pure functions from samples to a :class:`Target`, the
  effective :class:`Limits` and whether the browser should be recycled;
* :mod:`looqta.throttle.gate`    decide: how many file tasks may run at once (the file gate),
  from the machine's CPU, niced work included;
* :mod:`looqta.throttle.act`     act: apply limits to Scrapy's downloader, the browser handler and
  the file pool; recycle browser contexts without losing the pages in flight.

:class:`looqta.extensions.resources.ResourceThrottle` wires the three on a looping call.
"""
