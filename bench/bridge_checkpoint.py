"""Cost of the bridge's tracker checkpoint in a busy center.

    .venv/bin/python bench/bridge_checkpoint.py [--quick] [--calls 9000]

The bridge saves its tracker's state (calls in progress, agents, the keys
of the events seen) every second while nothing waits to be stored, on its
event loop: while it writes, no AMI event is read. The PBX simulator plays
a busy queue (event_ingest.py's scenario) and the tracker follows it up to
70 % of the day, so calls are in progress and the duplicate filter has
filled up (``tracker.SEEN_KEYS_KEPT`` keys).

Variants, in the same run: ``newest_keys`` is the checkpoint as it is
(only the newest ``tracker.STATE_SEEN_KEPT`` event keys, as a successor
only meets again the events of the last moments); ``all_keys``, the
baseline, pickles the whole duplicate filter. Each is saved and loaded
``--repeat`` times; the median and worst save, the file size and the share
of each second the event loop spends checkpointing are reported.
``--quick``: 1,500 calls.
"""
import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

import telephony_bench as bench  # noqa: E402
from event_ingest import record_events  # noqa: E402

FOLLOWED_SHARE = 0.7


def busy_tracker(calls):
    "A tracker that followed 70 % of a busy day of ``calls`` calls."
    from trytond.modules.cc_telephony.tracker import Tracker
    start = dt.datetime(2026, 11, 24, 9, 0, 0)
    events = record_events(calls, start)
    tracker = Tracker(lambda kind, data: None,
        wrapup_seconds=lambda interface: 10)
    for event in events[:int(len(events) * FOLLOWED_SHARE)]:
        tracker.feed(event)
    return tracker, len(events)


def measure(tracker, repeat):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, 'bridge.state')
        saves, loads = [], []
        for _ in range(repeat):
            began = time.perf_counter()
            tracker.save_state(path)
            saves.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            assert type(tracker)(lambda kind, data: None).load_state(path)
            loads.append((time.perf_counter() - began) * 1000)
        size = path.stat().st_size
    return {
        'save_p50_ms': round(statistics.median(saves), 2),
        'save_max_ms': round(max(saves), 2),
        'load_p50_ms': round(statistics.median(loads), 2),
        'file_kib': round(size / 1024, 1),
        # The bridge checkpoints at most once a second.
        'event_loop_share_per_s': round(statistics.median(saves) / 1000, 4),
        }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true', help='1,500 calls')
    parser.add_argument('--calls', type=int, default=None)
    parser.add_argument('--repeat', type=int, default=20)
    arguments = parser.parse_args(argv)
    calls = arguments.calls or (1500 if arguments.quick else 9000)
    from trytond.modules.cc_telephony import tracker as tracker_module
    tracker, events = busy_tracker(calls)
    followed = {
        'calls': calls, 'events_followed': int(events * FOLLOWED_SHARE),
        'calls_in_progress': len(tracker.calls),
        'seen_keys': len(tracker._seen),
        'seen_keys_kept': tracker_module.STATE_SEEN_KEPT,
        }
    print(followed)
    variants = {'newest_keys': measure(tracker, arguments.repeat)}
    with mock.patch.object(tracker_module, 'STATE_SEEN_KEPT',
            tracker_module.SEEN_KEYS_KEPT):
        variants['all_keys'] = measure(tracker, arguments.repeat)
    for name, figures in variants.items():
        print(name, figures)
    bench.write('bridge_checkpoint' + ('_quick' if arguments.quick else ''), {
            'benchmark': 'bridge_checkpoint', 'quick': arguments.quick,
            'machine': bench.machine(), 'followed': followed,
            'variants': variants,
            'save_speedup': round(variants['all_keys']['save_p50_ms']
                / variants['newest_keys']['save_p50_ms'], 1),
            })


if __name__ == '__main__':
    main()
