"""The adaptive rendering decision, on outcomes fed in by hand (no crawl, no clock)."""

from __future__ import annotations

import pytest

from looqta.render.adaptive import BROWSER, HTTP, AdaptiveConfig, AdaptiveRender


def test_a_plain_miss_moves_the_page_type_to_the_browser_and_good_probes_move_it_back() -> None:
    render = AdaptiveRender(AdaptiveConfig(probe_every=4, probe_every_max=16, probe_successes=2))
    assert render.choose("amazon/search") == (HTTP, False)
    assert render.record("amazon/search", HTTP, ok=True, now=1.0) is None
    assert render.record("amazon/search", HTTP, ok=False, now=2.0) == BROWSER
    picks = [render.choose("amazon/search") for _ in range(4)]
    assert picks == [(BROWSER, False)] * 3 + [(HTTP, True)]  # one probe in probe_every
    assert render.record("amazon/search", HTTP, ok=True, now=3.0, probe=True) is None
    assert render.choose("amazon/search") == (HTTP, True)  # confirm at once
    assert render.record("amazon/search", HTTP, ok=True, now=4.0, probe=True) == HTTP
    assert render.choose("amazon/search") == (HTTP, False)
    assert [switch[1] for switch in render.route("amazon/search").switches] == [BROWSER, HTTP]


def test_failed_probes_back_off_and_other_keys_are_untouched() -> None:
    render = AdaptiveRender(AdaptiveConfig(probe_every=4, probe_every_max=12, probe_successes=1))
    render.record("noon/product", HTTP, ok=False, now=0.0)
    gaps = []
    for _ in range(3):
        count = 0
        while render.choose("noon/product") != (HTTP, True):
            count += 1
        gaps.append(count)
        render.record("noon/product", HTTP, ok=False, now=1.0, probe=True)
    assert gaps == [3, 6, 12]
    assert render.choose("noon/search") == (HTTP, False)
    assert render.record("noon/product", BROWSER, ok=True, now=2.0) is None  # browser answers decide nothing


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="probe_every"):
        AdaptiveConfig(probe_every=1)
    with pytest.raises(ValueError, match="probe_successes"):
        AdaptiveConfig(probe_successes=0)
