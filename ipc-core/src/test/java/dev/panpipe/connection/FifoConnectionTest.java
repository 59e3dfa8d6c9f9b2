package dev.panpipe.connection;

import dev.panpipe.io.Fifo;
import dev.panpipe.io.Pipe;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The connection contract over a named pipe. */
class FifoConnectionTest extends ConnectionContractTest {
    @TempDir
    Path dir;
    private final List<Fifo> fifos = new ArrayList<>();

    private Pipe openFifo() throws IOException {
        Fifo fifo = Fifo.create(dir, "link-" + fifos.size());
        fifos.add(fifo);
        return fifo.openBoth();
    }

    @Override
    Link link(ConnectionOptions options) throws IOException {
        Pipe ends = openFifo();
        return new Link(Connection.over(ends.readEnd(), null, options), Connection.over(null, ends.writeEnd(), options));
    }

    @Override
    RawLink rawLink(ConnectionOptions options) throws IOException {
        Pipe ends = openFifo();
        return new RawLink(Connection.over(ends.readEnd(), null, options), ends.writeEnd());
    }

    @AfterEach
    void removeFifos() throws IOException {
        for (Fifo f : fifos) f.close();
    }
}
