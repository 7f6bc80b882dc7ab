"""MQTT output: the topic and payload contract, settings, Home Assistant discovery, the client.

The durable part (outbox, interval table, occupancy) lives next to the service, not here: this
package only knows how a message looks on the wire and how it reaches the broker.
"""
