package dev.panpipe.io;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class PipeSmokeTest {
    @Test
    void shouldCarryBytesThroughAPipe() throws Exception {
        try (Pipe pipe = Pipe.open()) {
            pipe.writeEnd().write("hello".getBytes(), 0, 5);
            byte[] buf = new byte[8];
            assertEquals(5, pipe.readEnd().read(buf, 0, buf.length));
            assertEquals(getClass().getModule().getName(), "dev.panpipe.core");
        }
    }
}
