"""What the router and the bridge share as console services: the common
command-line options, logging, the Tryton pool, and a clean stop on
SIGTERM or SIGINT."""
import argparse
import asyncio
import logging
import os
import signal

logger = logging.getLogger(__name__)
LOG_FORMAT = '%(asctime)s %(levelname)s %(name)s %(message)s'


def argument_parser(prog, description):
    "A parser with the options of every service: -c, -d and -v."
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument('-c', '--config', dest='config',
        default=os.environ.get('TRYTOND_CONFIG'),
        help='trytond configuration file')
    parser.add_argument('-d', '--database', dest='database', required=True,
        help='database name')
    parser.add_argument('-v', '--verbose', action='store_true')
    return parser


def configure_logging(verbose=False):
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
        format=LOG_FORMAT)


def init_pool(config_file, database):
    from trytond import config
    if config_file:
        config.update_etc(config_file)
    from trytond.pool import Pool
    Pool.start()
    pool = Pool(database)
    pool.init()
    return pool


async def run_until_signalled(coroutine):
    """Await ``coroutine``; SIGTERM or SIGINT cancels it, so that its
    clean-up (finally blocks) runs and the process exits with status 0."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await coroutine
    except asyncio.CancelledError:
        logger.info('stopped by a signal')
