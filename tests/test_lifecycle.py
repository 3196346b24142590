"""Every cc module can be deactivated and activated again by an administrator
over RPC (the calls the web client makes: the module's button, then the
"Perform Pending Activation/Upgrade" wizard).

Deactivation deletes groups (and so users' memberships), so these tests run
on their own copy of the session database, with their own server.
"""
import pytest

from ccsuite import lifecycle, testing


@pytest.fixture(scope='module')
def lifecycle_database(template_database):
    database = template_database.clone(
        testing.unique_database_name('cc_e2e_lc'))
    yield database
    database.drop()


@pytest.fixture(scope='module')
def lifecycle_server(lifecycle_database, start_server):
    server = start_server(lifecycle_database)
    yield server
    server.stop()


@pytest.fixture(scope='module')
def modules(lifecycle_server):
    rpc = lifecycle_server.json_rpc().login('admin', testing.ADMIN_PASSWORD)
    return lifecycle.Modules(rpc)


@pytest.fixture(scope='module')
def customer_number(modules):
    "A customer created before any deactivation: its data must survive."
    rpc = modules.rpc
    rpc('model.party.party.create', [{'name': "数据保留测试",
                'contact_mechanisms': [('create', [
                            {'type': 'mobile', 'value': '13700001111'}])],
                }], rpc.context)
    return '13700001111'


def existing(database, records):
    return {xml_id for xml_id, (model, record_id) in records.items()
        if record_id is not None
        and database.record_exists(model, record_id)}


@pytest.mark.parametrize('name', testing.modules_under_test())
def test_deactivate_then_activate_again(
        name, modules, lifecycle_database, customer_number):
    database = lifecycle_database
    assert modules.states([name]) == {name: 'activated'}
    before = database.xml_records(name)
    assert before and existing(database, before) == before.keys()

    deactivated = lifecycle.deactivate(modules, [name])
    assert deactivated[-1] == name
    assert set(modules.states(deactivated).values()) == {'not activated'}
    assert existing(database, before) == set()
    for module in deactivated:
        assert database.xml_records(module) == {}

    assert lifecycle.activate(modules, [name]) == [name]
    assert modules.states([name]) == {name: 'activated'}
    after = database.xml_records(name)
    assert after.keys() == before.keys()
    assert existing(database, after) == after.keys()

    lifecycle.activate(modules, deactivated)
    assert set(modules.states(deactivated).values()) == {'activated'}
    assert_suite_works(modules.rpc, customer_number)


def assert_suite_works(rpc, number):
    "The administrator's contact-center rights and old data are back."
    answer = rpc('model.cc.caller.identify', number, rpc.context)
    assert [p['name'] for p in answer['parties']] == ["数据保留测试"]


def test_dependent_is_deactivated_first(modules):
    """Deactivating a module that others depend on takes them along,
    dependents first (trytond refuses the other order)."""
    if not lifecycle.activated_dependents(modules.read(), 'cc_base'):
        pytest.skip("no activated module depends on cc_base")
    with pytest.raises(testing.RpcError) as error:
        modules.click('cc_base', 'deactivate')
    assert error.value.kind == 'UserError'
    assert modules.states(['cc_base']) == {'cc_base': 'activated'}
