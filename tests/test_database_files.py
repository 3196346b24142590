"""Dropping a database also drops the files make run's bridge and router
kept for it, and only those."""
from ccsuite import config, database


def test_drop_removes_only_that_databases_service_files(tmp_path,
        monkeypatch):
    from trytond.modules.cc_telephony.bridge import file_base
    monkeypatch.setattr(config, 'SPOOL_PATH', tmp_path)
    kept, dropped = [], []
    for name, files in [('demo', dropped), ('demo2', kept),
            ('de*mo', kept), ('演示', kept)]:
        for service in ('bridge', 'router'):
            base = file_base(str(tmp_path), name, 'demo-sim', service)
            for suffix in ('.state', '.spool', '.dead', '.owner',
                    '.spool.unclaimed'):
                path = tmp_path / (base + suffix)
                path.write_text('x')
                files.append(path)
    other = tmp_path / 'unrelated@demo.txt'
    other.write_text('x')

    database.drop_bridge_files('demo')

    assert [p for p in dropped if p.exists()] == []
    assert all(p.exists() for p in kept + [other])
