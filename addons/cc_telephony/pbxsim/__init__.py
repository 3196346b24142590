"""PBX simulator — not a PBX.

A development and test tool that speaks AMI and drives FastAGI like an
Asterisk 18 running app_queue would, on a simulated clock.  It carries no
media and routes nothing real.  Start it with
``python -m trytond.modules.cc_telephony.pbxsim --help``.
"""
