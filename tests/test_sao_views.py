"""Every list and form view of the cc modules can be drawn by sao.

sao builds each column or field from a table of widgets; a field whose
widget (by default its type) is missing there stops the whole view with
"ColumnFactory is not a constructor" and nothing opens. sao's list views
have no `datetime` column, for example: a DateTime field in a tree needs
`widget="date"` and/or `widget="time"` (as trytond's own lists do).
"""
import re
import xml.etree.ElementTree as ET

import pytest

from ccsuite import config, testing

SAO_JS = config.ROOT / 'var' / 'sao' / 'dist' / 'tryton-sao.js'
PARSERS = {'tree': 'TreeXMLViewParser', 'form': 'FormXMLViewParser'}


def sao_widgets(parser):
    text = SAO_JS.read_text()
    start = text.index(f'Sao.View.{parser}.WIDGETS = {{')
    table = text[start:text.index('};', start)]
    return set(re.findall(r"'([\w-]+)':", table))


@pytest.fixture(scope='module')
def widgets():
    return {kind: sao_widgets(parser) for kind, parser in PARSERS.items()}


def unsupported(view, widgets, kind, where):
    "(where, field, widget) of the fields sao cannot draw in a view."
    problems = []
    for node in ET.fromstring(view['arch']).iter('field'):
        name = node.get('name')
        field = view['fields'].get(name, {})
        widget = node.get('widget') or field.get('type')
        if widget and widget not in widgets[kind]:
            problems.append((where, name, widget))
    for name, field in view['fields'].items():
        for sub_kind, sub_view in (field.get('views') or {}).items():
            if sub_kind in widgets:
                problems += unsupported(
                    sub_view, widgets, sub_kind, f'{where} > {name}')
    return problems


def cc_views(admin):
    views = admin('model.ir.ui.view.search_read', [
            ('module', 'in', testing.modules_under_test()),
            ('type', 'in', list(PARSERS)),
            ], 0, None, None, ['model', 'type', 'inherit', 'name'],
        admin.context)
    return sorted({(v['model'], v['type'], v['inherit'] or v['id'])
            for v in views if v['model']})


def test_sao_draws_every_cc_view(admin, widgets):
    problems = []
    views = cc_views(admin)
    assert views
    for model, kind, view_id in views:
        view = admin(f'model.{model}.fields_view_get', view_id, kind,
            admin.context)
        problems += unsupported(
            view, widgets, kind, f'{model} {kind} view {view_id}')
    assert not problems, "sao cannot draw these fields:\n" + '\n'.join(
        f'  {where}: {field} (widget {widget})'
        for where, field, widget in problems)
