"""Append-only on-disk spool of raw AMI events for when the database is down.

One JSON object per line.  ``append`` returns only after ``fsync``, so an
event it accepted survives a crash; a crash in the middle of ``append``
leaves at most one partial last line, which has never been acknowledged and
is therefore ignored and cut off.  ``replay`` yields events in arrival order
with the byte offset just after each; ``confirm(offset)`` drops everything
up to that offset once the consumer has durably stored it.

A spool is only meaningful for the consumer it was written for: ``claim``
keeps the owner's identity beside the file and sets aside (``set_aside``)
a spool written for another owner instead of handing it over. A consumer
that must append before it can tell its identity defers the claim
(``Spool.defer_claim``): only the records from before are then set aside.
"""
import datetime as dt
import json
import logging
import os

logger = logging.getLogger(__name__)


def set_aside(path):
    """Rename ``path`` to ``<path>.<UTC time>.orphan``, never over an
    earlier one, and return the new name: kept for a human, used by none."""
    aside = aside_name(path)
    os.replace(path, aside)
    return aside


def aside_name(path):
    "``<path>.<UTC time>.orphan``, a name no file has yet."
    stamp = dt.datetime.now(dt.timezone.utc).strftime('%Y%m%dT%H%M%S')
    aside, number = f'{path}.{stamp}.orphan', 1
    while os.path.exists(aside):
        number += 1
        aside = f'{path}.{stamp}-{number}.orphan'
    return aside


def write_atomically(path, data):
    "Replace ``path`` by ``data`` (bytes): a crash leaves the old or new."
    temporary = f'{path}.tmp'
    with open(temporary, 'wb') as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def claim(owner_path, identity, paths, spools=()):
    """Make the files ``paths`` (a spool and its companions) belong to
    ``identity``, recorded as JSON in ``owner_path``.

    Files that exist while ``owner_path`` names another owner, or none (an
    owner unknown), are set aside first: they were not written for this
    consumer. ``spools`` are open Spools whose consumer could not tell its
    identity when it opened them (``Spool.defer_claim``): only what they
    inherited is set aside, what was appended since is this consumer's.
    Return {path: where it was set aside}; the caller says why.
    """
    try:
        with open(owner_path, encoding='utf-8') as file:
            owner = json.load(file)
    except (OSError, ValueError):
        owner = None
    moved = {}
    if owner != identity:
        moved = {path: set_aside(path)
            for path in paths if os.path.exists(path)}
        for spool in spools:
            aside = spool.set_aside_inherited()
            if aside:
                moved[spool.path] = aside
        write_atomically(owner_path, json.dumps(
                identity, ensure_ascii=False, sort_keys=True).encode('utf-8'))
    for spool in spools:
        spool.claimed()
    return moved


class Spool:

    def __init__(self, path):
        self.path = path
        self._repair()
        self._file = open(path, 'ab')
        self.inherited = self._inherited()

    @property
    def unclaimed_path(self):
        return f'{self.path}.unclaimed'

    def _inherited(self):
        """The bytes at the head of the spool an owner left (see
        set_aside_inherited): all it holds, unless a process that could not
        tell its owner appended behind them (defer_claim)."""
        try:
            with open(self.unclaimed_path, encoding='ascii') as marker:
                return int(marker.read())
        except (OSError, ValueError):
            # No marker, or a damaged one: setting too much aside loses
            # nothing.
            return self._file.tell()

    def defer_claim(self):
        """The consumer cannot tell its identity yet but must append: the
        records from here on are the next claim's, whoever it is, and
        only those before are set aside if it is another owner's. Kept in
        ``.unclaimed`` beside the spool for the processes that follow."""
        if not os.path.exists(self.unclaimed_path):
            write_atomically(self.unclaimed_path,
                str(self.inherited).encode('ascii'))

    def claimed(self):
        "Every record in the spool now belongs to its recorded owner."
        self.inherited = 0
        if os.path.exists(self.unclaimed_path):
            os.remove(self.unclaimed_path)

    def _repair(self):
        "Cut a partial last line left by a crash during append."
        if not os.path.exists(self.path):
            return
        with open(self.path, 'rb+') as spool:
            data = spool.read()
            complete = data.rfind(b'\n') + 1
            if complete < len(data):
                logger.warning('spool %s: dropped a partial last record',
                    self.path)
                spool.truncate(complete)
                os.fsync(spool.fileno())

    def append(self, event):
        "Store one event durably."
        line = json.dumps(event, ensure_ascii=False, sort_keys=True)
        self._file.write(line.encode('utf-8') + b'\n')
        self._file.flush()
        os.fsync(self._file.fileno())

    def replay(self):
        """Yield (offset, event) in order, offset being the end of its line.

        A line that is not valid JSON is logged and skipped, never stops the
        replay of the lines after it.
        """
        with open(self.path, 'rb') as spool:
            offset = 0
            for line in spool:
                offset += len(line)
                if not line.endswith(b'\n'):
                    return
                try:
                    event = json.loads(line)
                except ValueError:
                    logger.warning('spool %s: corrupt record at %d skipped',
                        self.path, offset - len(line))
                    continue
                yield offset, event

    def confirm(self, offset):
        """Forget the events before ``offset`` (from ``replay``).

        The remaining tail is written to a new file that atomically replaces
        the spool, so a crash here leaves either the old or the new spool.
        """
        self._file.close()
        with open(self.path, 'rb') as spool:
            spool.seek(offset)
            tail = spool.read()
        temporary = self.path + '.tmp'
        with open(temporary, 'wb') as new:
            new.write(tail)
            new.flush()
            os.fsync(new.fileno())
        os.replace(temporary, self.path)
        self._sync_directory()
        self._file = open(self.path, 'ab')
        self.inherited = max(0, self.inherited - offset)

    def set_aside_inherited(self):
        """Move the records the spool held when it was opened to an orphan
        file (as ``set_aside``), keeping those appended since; return the
        orphan's name, or None when it held none."""
        if not self.inherited:
            return None
        with open(self.path, 'rb') as spool:
            head = spool.read(self.inherited)
        aside = aside_name(self.path)
        write_atomically(aside, head)
        # A crash before the owner is recorded sets the inherited records
        # aside again at the next start (after the confirm, as many bytes
        # more): a record may be in two orphans, never replayed.
        self.confirm(self.inherited)
        return aside

    def _sync_directory(self):
        directory = os.open(os.path.dirname(os.path.abspath(self.path)),
            os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def __len__(self):
        return sum(1 for _ in self.replay())

    @classmethod
    def count(cls, path):
        "The records of the spool at ``path``, read without repairing it."
        spool = object.__new__(cls)
        spool.path = path
        return len(spool)

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
