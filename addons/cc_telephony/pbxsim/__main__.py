"""Command line of the PBX simulator (a development tool, not a PBX)."""
import argparse
import asyncio
import datetime as dt
import logging

from . import scenario
from .server import AMIServer


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m trytond.modules.cc_telephony.pbxsim',
        description='PBX simulator - not a PBX. Speaks AMI and calls a '
        'FastAGI router like Asterisk app_queue, on a simulated clock.')
    parser.add_argument('scenario', help='scenario JSON file')
    parser.add_argument('--ami-host', default='127.0.0.1')
    parser.add_argument('--ami-port', type=int, default=5038)
    parser.add_argument('--ami-user', default='cc')
    parser.add_argument('--ami-secret', default='cc')
    parser.add_argument('--fastagi-url', default=None,
        help='e.g. agi://127.0.0.1:4573/route; no routing if omitted')
    parser.add_argument('--speed', type=float, default=1.0,
        help='simulated seconds per real second (1 = real time)')
    parser.add_argument('--duration', type=float, default=None,
        help='stop after this many simulated seconds')
    return parser.parse_args(argv)


async def serve(arguments):
    sim = scenario.build(scenario.load(arguments.scenario),
        arguments.fastagi_url)
    server = AMIServer(sim, {arguments.ami_user: arguments.ami_secret})
    port = await server.start(arguments.ami_host, arguments.ami_port)
    logging.info('PBX simulator AMI on %s:%s', arguments.ami_host, port)
    until = None
    if arguments.duration is not None:
        until = sim.now + dt.timedelta(seconds=arguments.duration)
    try:
        await sim.run(arguments.speed, until)
    finally:
        await server.stop()


def main(argv=None):
    logging.basicConfig(level=logging.INFO)
    asyncio.run(serve(parse_arguments(argv)))


if __name__ == '__main__':
    main()
