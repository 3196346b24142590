"""HTTP routes: a call's recording streamed to the browser from the signed
URL ``cc.call.recording_url`` issued (no session header needed, so that an
<audio> element can fetch it)."""
from http import HTTPStatus

from werkzeug.utils import send_file

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.protocols.wrappers import abort, with_pool, with_transaction
from trytond.transaction import Transaction
from trytond.wsgi import app

from .recording import AUDIO_TYPES


@app.route('/<database_name>/cc_telephony/recording/<token>',
    methods={'GET', 'HEAD'})
@with_pool
@with_transaction(readonly=True)
def recording(request, pool, token):
    """The recording the token grants, streamed from its file with Range
    support (206) so that the browser seeks without fetching all of it.
    403 without a valid token or when the user may no longer listen, 404
    when the file cannot be served (gone, or now outside the folder)."""
    Call = pool.get('cc.call')
    grant = Call.recording_grant(token)
    if not grant:
        abort(HTTPStatus.FORBIDDEN)
    call_id, user_id = grant
    calls = Call.search([('id', '=', call_id)])
    if not calls:
        abort(HTTPStatus.NOT_FOUND)
    call, = calls
    transaction = Transaction()
    try:
        # The rule may have changed since the URL was issued.
        with transaction.set_user(user_id), \
                transaction.set_context(_check_access=True):
            Call.check_listener([call_id])
    except AccessError:
        abort(HTTPStatus.FORBIDDEN)
    try:
        path = call.recording_path()
    except UserError:
        abort(HTTPStatus.NOT_FOUND)
    response = send_file(path, request.environ,
        mimetype=AUDIO_TYPES[path.suffix.lower()],
        download_name=call.recording_filename)
    response.cache_control.private = True
    return response
