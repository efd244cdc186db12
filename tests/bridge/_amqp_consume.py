"""AMQP 0-9-1 consumer for the RabbitMQ bridge test (Debian's python3-pika).

Usage: _amqp_consume.py PORT ROUTING_KEY COUNT
Binds a private queue to the amq.topic exchange (where RabbitMQ's MQTT plugin publishes, with
"/" in topics turned into "."), prints READY, then "ROUTING_KEY BODY" for COUNT messages.
"""
import sys

import pika

port, key, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
connection = pika.BlockingConnection(
    pika.ConnectionParameters(
        host="127.0.0.1", port=port, credentials=pika.PlainCredentials("guest", "guest")
    )
)
channel = connection.channel()
queue = channel.queue_declare(queue="", exclusive=True).method.queue
channel.queue_bind(exchange="amq.topic", queue=queue, routing_key=key)
print("READY", flush=True)
received = 0
for method, _properties, body in channel.consume(queue, auto_ack=True, inactivity_timeout=30):
    if method is None:
        break
    print(f"{method.routing_key} {body.decode()}", flush=True)
    received += 1
    if received >= count:
        break
connection.close()
