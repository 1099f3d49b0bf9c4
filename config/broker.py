"""kombu's Redis transport, with the one change that lets a worker ride out a Redis restart.

When the broker connection is lost, Celery closes the broken connection, and closing a channel
restores the messages it held unacknowledged. By then kombu may already have dropped the
transport's connection settings, and the restore fails with
``AttributeError: 'NoneType' object has no attribute 'hostname'``, which Celery treats as
unrecoverable: the worker exits. Nothing can be restored through a connection that is gone;
those messages stay in Redis' unacked set and are delivered again after the visibility timeout
(CELERY_VISIBILITY_TIMEOUT), so skipping the restore loses nothing.
"""

from kombu.transport import redis


class QoS(redis.QoS):
    def restore_unacked(self, client=None):
        transport = self.channel.connection
        if transport is None or transport.client is None:
            return None
        return super().restore_unacked(client)


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
