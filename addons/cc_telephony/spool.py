"""Append-only on-disk spool of raw AMI events for when the database is down.

One JSON object per line.  ``append`` returns only after ``fsync``, so an
event it accepted survives a crash; a crash in the middle of ``append``
leaves at most one partial last line, which has never been acknowledged and
is therefore ignored and cut off.  ``replay`` yields events in arrival order
with the byte offset just after each; ``confirm(offset)`` drops everything
up to that offset once the consumer has durably stored it.

A spool is only meaningful for the consumer it was written for: ``claim``
keeps the owner's identity beside the file and sets aside (``set_aside``)
a spool written for another owner instead of handing it over.
"""
import datetime as dt
import json
import logging
import os

logger = logging.getLogger(__name__)


def set_aside(path):
    """Rename ``path`` to ``<path>.<UTC time>.orphan``, never over an
    earlier one, and return the new name: kept for a human, used by none."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime('%Y%m%dT%H%M%S')
    aside, number = f'{path}.{stamp}.orphan', 1
    while os.path.exists(aside):
        number += 1
        aside = f'{path}.{stamp}-{number}.orphan'
    os.replace(path, aside)
    return aside


def write_atomically(path, data):
    "Replace ``path`` by ``data`` (bytes): a crash leaves the old or new."
    temporary = f'{path}.tmp'
    with open(temporary, 'wb') as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def claim(owner_path, identity, paths):
    """Make the files ``paths`` (a spool and its companions) belong to
    ``identity``, recorded as JSON in ``owner_path``.

    Files that exist while ``owner_path`` names another owner, or none (an
    owner unknown), are set aside first: they were not written for this
    consumer. Return {path: where it was set aside}; the caller says why.
    """
    try:
        with open(owner_path, encoding='utf-8') as file:
            owner = json.load(file)
    except (OSError, ValueError):
        owner = None
    if owner == identity:
        return {}
    moved = {path: set_aside(path) for path in paths if os.path.exists(path)}
    write_atomically(owner_path, json.dumps(
            identity, ensure_ascii=False, sort_keys=True).encode('utf-8'))
    return moved


class Spool:

    def __init__(self, path):
        self.path = path
        self._repair()
        self._file = open(path, 'ab')

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
