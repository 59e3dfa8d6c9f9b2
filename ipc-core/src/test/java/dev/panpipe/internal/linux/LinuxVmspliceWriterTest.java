package dev.panpipe.internal.linux;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.io.VmspliceRing;
import dev.panpipe.io.VmspliceWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.Arena;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** What only an fd end that is not a pipe can show. */
@Timeout(30)
@ExtendWith(LeakCheck.class)
class LinuxVmspliceWriterTest {

    @Test
    void shouldRefuseAWriteEndThatIsNotAPipe() throws Exception {
        int fd;
        try (Arena arena = Arena.ofConfined()) {
            fd = Syscalls.open(arena.allocateFrom("/dev/null"), linux_h.O_WRONLY() | linux_h.O_CLOEXEC(), 0);
        }
        try (FdWriteEnd devNull = new FdWriteEnd(FdHandle.own(fd, "/dev/null"))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VmspliceWriter.over(devNull));
            assertEquals("vmsplice needs the write end of a pipe: /dev/null (fd " + fd + ") is not one (F_GETPIPE_SZ: EBADF)", e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> VmspliceRing.over(devNull, 4096));
        }
    }
}
