package dev.panpipe.connection;

import dev.panpipe.io.Pipe;

import java.io.IOException;

/** The connection contract over a one-way pipe ({@code Connection.oneWay}, like {@code Pipe(duplex=False)}). */
class PipeConnectionTest extends ConnectionContractTest {
    @Override
    Link link(ConnectionOptions options) throws IOException {
        Connection.Pair pair = Connection.oneWay(options);
        return new Link(pair.first(), pair.second());
    }

    @Override
    RawLink rawLink(ConnectionOptions options) throws IOException {
        Pipe pipe = Pipe.open();
        return new RawLink(Connection.over(pipe.readEnd(), null, options), pipe.writeEnd());
    }
}
