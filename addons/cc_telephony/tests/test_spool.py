"""Tests of the on-disk AMI event spool."""
import logging

from ..spool import Spool, claim

EVENTS = [{'Event': 'Newchannel', 'Uniqueid': str(n), 'CallerIDName': '张三'}
    for n in range(5)]


def replayed(spool):
    return [event for _, event in spool.replay()]


def reader(path):
    "A spool object that reads without the repair done on open."
    spool = object.__new__(Spool)
    spool.path = path
    return spool


def test_replay_in_order_and_across_reopen(tmp_path):
    path = str(tmp_path / 'events.jsonl')
    with Spool(path) as spool:
        for event in EVENTS:
            spool.append(event)
    with Spool(path) as spool:
        assert replayed(spool) == EVENTS
        assert len(spool) == 5


def test_partial_last_line_is_ignored_then_cut(tmp_path, caplog):
    path = str(tmp_path / 'events.jsonl')
    with Spool(path) as spool:
        spool.append(EVENTS[0])
    with open(path, 'ab') as crashed:
        crashed.write(b'{"Event": "Hang')
    assert replayed(reader(path)) == [EVENTS[0]]
    with caplog.at_level(logging.WARNING), Spool(path) as reopened:
        reopened.append(EVENTS[1])
        assert replayed(reopened) == [EVENTS[0], EVENTS[1]]
    assert 'partial last record' in caplog.text


def test_confirm_drops_only_the_replayed_prefix(tmp_path):
    path = str(tmp_path / 'events.jsonl')
    with Spool(path) as spool:
        for event in EVENTS[:3]:
            spool.append(event)
        offsets = [offset for offset, _ in spool.replay()]
        spool.append(EVENTS[3])          # arrives while the replay runs
        spool.confirm(offsets[1])        # the database took the first two
        assert replayed(spool) == [EVENTS[2], EVENTS[3]]
        spool.append(EVENTS[4])
        assert replayed(spool) == [EVENTS[2], EVENTS[3], EVENTS[4]]
        last = [offset for offset, _ in spool.replay()][-1]
        spool.confirm(last)
        assert replayed(spool) == []
    assert (tmp_path / 'events.jsonl').stat().st_size == 0


def test_corrupt_line_is_skipped(tmp_path, caplog):
    path = str(tmp_path / 'events.jsonl')
    with Spool(path) as spool:
        spool.append(EVENTS[0])
        spool._file.write(b'not json\n')
        spool._file.flush()
        spool.append(EVENTS[1])
        with caplog.at_level(logging.WARNING):
            assert replayed(spool) == [EVENTS[0], EVENTS[1]]
    assert 'corrupt record' in caplog.text


def test_deferred_claim_sets_aside_only_what_was_inherited(tmp_path):
    """A consumer appending before it knows who it is: the next claim sets
    aside what another owner left, across a reopen, and keeps the rest."""
    path, owner = str(tmp_path / 'events.jsonl'), str(tmp_path / 'owner')
    assert claim(owner, 'old', [path]) == {}
    with Spool(path) as spool:
        spool.append(EVENTS[0])
    with Spool(path) as spool:
        spool.defer_claim()
        spool.append(EVENTS[1])
    with Spool(path) as spool:
        spool.defer_claim()
        spool.append(EVENTS[2])
        moved = claim(owner, 'new', [], [spool])
        assert replayed(spool) == EVENTS[1:3]
    assert replayed(reader(moved[path])) == [EVENTS[0]]
    assert not (tmp_path / 'events.jsonl.unclaimed').exists()
    # Claimed: the next owner check keeps everything.
    with Spool(path) as spool:
        assert claim(owner, 'new', [], [spool]) == {}
        assert replayed(spool) == EVENTS[1:3]
