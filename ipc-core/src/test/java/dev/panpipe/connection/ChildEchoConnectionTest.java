package dev.panpipe.connection;

import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import dev.panpipe.io.LeakCheck;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Frames through a real process: {@code cat} echoes the byte stream, so every frame must come back whole. */
@Timeout(60)
@ExtendWith(LeakCheck.class)
class ChildEchoConnectionTest {
    @Test
    void shouldRoundTripFramesThroughCat() throws Exception {
        try (Subprocess cat = Subprocess.builder("cat").stderr(Redirect.inherit()).start();
             Connection conn = Connection.over(cat.stdout(), cat.stdin(), ConnectionOptions.defaults());
             ExecutorService pool = Executors.newSingleThreadExecutor()) {
            int count = 10_000;
            Future<?> sender = ConnectionContractTest.sendFrom(pool, conn, () -> {
                for (int i = 0; i < count; i++) conn.send("message " + i, Codecs.text());
                cat.stdin().close();                              // cat sees end of input and exits
            });
            for (int i = 0; i < count; i++) assertEquals("message " + i, conn.receive(Codecs.text()));
            sender.get();
            assertThrows(ConnectionClosedException.class, conn::receive);
            assertTrue(cat.waitFor().success());
        }
    }
}
