"""Headless Chromium driving the sao web client, for tests and benchmarks.

Chromium is Debian's (scripts/chromium.sh); Playwright only drives it. The
flags keep it off the network this machine does not have."""
import contextlib
import os
import tempfile

CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync']


@contextlib.contextmanager
def _children_on(cpus):
    """Processes started inside run on ``cpus`` (None: anywhere): a child
    inherits the CPU affinity of the thread that starts it, and so do its
    own children, even those started later (Chromium's renderers)."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextlib.contextmanager
def chromium_page(timeout_ms=30_000, cpus=None, **options):
    """A page of a fresh Chromium profile; ``page.errors`` collects the
    JavaScript errors it raises. ``cpus``: the CPUs Chromium and its
    Playwright driver may use (as on an agent's own PC), None for all."""
    from playwright.sync_api import sync_playwright
    with contextlib.ExitStack() as stack:
        profile = stack.enter_context(
            tempfile.TemporaryDirectory(prefix='cc-chromium-'))
        with _children_on(cpus):
            driver = stack.enter_context(sync_playwright())
            context = driver.chromium.launch_persistent_context(profile,
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                viewport={'width': 1366, 'height': 850}, **options)
        context.set_default_timeout(timeout_ms)
        page = context.pages[0] if context.pages else context.new_page()
        page.errors = []
        page.on('pageerror', lambda error: page.errors.append(str(error)))
        try:
            yield page
        finally:
            context.close()


def sao_login(page, server, login, password):
    "Log in to sao on ``server`` (a ccsuite.testing.Server)."
    page.goto(f'{server.url}/')
    page.select_option('select#database', server.database)
    page.fill('input#login', login)
    page.click('button[type=submit]')
    password_entry = page.locator('input[type=password]:visible')
    password_entry.fill(password)
    password_entry.press('Enter')
