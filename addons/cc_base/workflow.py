from trytond.i18n import gettext
from trytond.model.exceptions import AccessError


class WorkflowFieldsMixin:
    """Fields that only the workflow sets, whatever a client sends.

    ``readonly`` on a field binds the client only: without this a user could
    create an article already published or write its approver over RPC.
    """
    __slots__ = ()

    @classmethod
    def _workflow_create_values(cls):
        "Values of the workflow fields of a new record."
        return {}

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            values.update(cls._workflow_create_values())
        return values

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        # Buttons run without access checks, so their writes are internal.
        if mode == 'write' and external and values:
            for name in sorted(cls._workflow_create_values().keys() & values):
                raise AccessError(gettext(
                        'cc_base.msg_workflow_field',
                        **cls.__names__(field=name)))
