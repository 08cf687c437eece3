#!/usr/bin/python3
# tests/fuzz/h2-seeds.py DIR - write the seed corpus of fuzz_h2 (python3-h2):
# what a client sends after the connection preface (fuzz_h2 sends the
# preface itself), each file starting with fuzz_h2's piece-size byte.
import sys

import h2.config
import h2.connection

out = sys.argv[1]
GET = [(':method', 'GET'), (':path', '/index.html'), (':scheme', 'https'),
       (':authority', 'localhost'), ('user-agent', 'seed'), ('accept', '*/*')]


def client():
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    c.data_to_send()
    c.clear_outbound_data_buffer()
    c.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100})
    return c


def write(name, piece, c):
    with open(f'{out}/{name}', 'wb') as f:
        f.write(bytes([piece]) + c.data_to_send())


c = client()
c.send_headers(1, GET, end_stream=True)
write('get', 0, c)

c = client()
for sid in (1, 3, 5):
    c.send_headers(sid, GET, end_stream=True)
c.send_headers(7, [(':method', 'HEAD')] + GET[1:], end_stream=True)
write('multiplexed', 7, c)

c = client()
body = b'{"a":[1,2,3]}'
c.send_headers(1, [(':method', 'POST'), (':path', '/upload'), (':scheme', 'https'),
                   (':authority', 'localhost'), ('content-type', 'application/json'),
                   ('content-length', str(len(body)))])
c.send_data(1, body, end_stream=True)
write('upload', 0, c)

c = client()
for sid in range(1, 40, 2):
    c.send_headers(sid, GET, end_stream=True)
    c.reset_stream(sid)
c.ping(b'12345678')
write('reset', 0, c)

c = client()
c.send_headers(1, GET + [('range', 'bytes=0-1,5-9'), ('x-big', 'v' * 3000)], end_stream=True)
c.increment_flow_control_window(65536)
write('range', 13, c)
