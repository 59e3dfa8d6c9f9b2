package dev.panpipe.internal.linux;

import dev.panpipe.process.Subprocess;
import dev.panpipe.process.SubprocessBuilder;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertNotNull;

/** {@link SubprocessInterruptCases} for children waited for through their pidfd, as on every kernel since 5.3. */
class SubprocessInterruptTest extends SubprocessInterruptCases {
    @Override
    Subprocess start(SubprocessBuilder b) throws IOException {
        Subprocess p = b.start();
        assertNotNull(((LinuxSubprocess) p).pidfd(), "this kernel gives pidfds");
        return p;
    }
}
