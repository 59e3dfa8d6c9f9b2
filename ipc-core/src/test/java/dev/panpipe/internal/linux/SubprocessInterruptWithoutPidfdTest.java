package dev.panpipe.internal.linux;

import dev.panpipe.process.Subprocess;
import dev.panpipe.process.SubprocessBuilder;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertNull;

/** {@link SubprocessInterruptCases} for children without a pidfd, waited for as on a kernel before 5.3: by waitid. */
class SubprocessInterruptWithoutPidfdTest extends SubprocessInterruptCases {
    @Override
    Subprocess start(SubprocessBuilder b) throws IOException {
        Subprocess p = LinuxSpawner.spawn(b, false);
        assertNull(((LinuxSubprocess) p).pidfd());
        return p;
    }
}
