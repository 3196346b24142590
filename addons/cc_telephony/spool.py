"""Append-only on-disk spool of raw AMI events for when the database is down.

One JSON object per line.  ``append`` returns only after ``fsync``, so an
event it accepted survives a crash; a crash in the middle of ``append``
leaves at most one partial last line, which has never been acknowledged and
is therefore ignored and cut off.  ``replay`` yields events in arrival order
with the byte offset just after each; ``confirm(offset)`` drops everything
up to that offset once the consumer has durably stored it.
"""
import json
import logging
import os

logger = logging.getLogger(__name__)


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

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
