package dev.panpipe.connection;

import dev.panpipe.internal.linux.FdHandle;
import dev.panpipe.internal.linux.FdReadEnd;
import dev.panpipe.internal.linux.FdWriteEnd;
import dev.panpipe.internal.linux.LinuxSockets;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The connection contract over a Unix socketpair ({@code Connection.pair}, duplex). */
class SocketPairConnectionTest extends ConnectionContractTest {
    @Override
    Link link(ConnectionOptions options) throws IOException {
        Connection.Pair pair = Connection.pair(options);
        return new Link(pair.first(), pair.second());
    }

    @Override
    RawLink rawLink(ConnectionOptions options) throws IOException {
        int[] sv = LinuxSockets.socketpair();
        FdHandle receiving = FdHandle.own(sv[0], "test socket 0");
        Connection receiver = Connection.over(new FdReadEnd(receiving), new FdWriteEnd(receiving), options);
        return new RawLink(receiver, new FdWriteEnd(FdHandle.own(sv[1], "test socket 1")));
    }

    @Test
    void shouldCarryMessagesBothWays() throws Exception {
        try (Connection.Pair pair = Connection.pair()) {
            pair.first().send("ping", Codecs.text());
            assertEquals("ping", pair.second().receive(Codecs.text()));
            pair.second().send("pong", Codecs.text());
            assertEquals("pong", pair.first().receive(Codecs.text()));
        }
    }
}
