package dev.panpipe.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * RobustMutex links the pthread calls by hand (panpipe's generated bindings no longer carry them), so the values
 * it passes and the room it gives a mutex are checked here against the C compiler's {@code <pthread.h>}, as
 * native-bindings' CLayoutTest checks the generated ones. No expected number is typed in here.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RobustMutexTest {

    @Test
    void shouldPassThePthreadHeadersValuesAndGiveAMutexAtLeastItsSize(@TempDir Path dir) throws Exception {
        assumeTrue(onPath("gcc"), "gcc is not installed: cannot check RobustMutex against <pthread.h>");
        Path source = dir.resolve("pthread_values.c");
        Files.writeString(source, """
                #include <pthread.h>
                #include <stdio.h>
                int main(void) {
                    printf("%d %d %zu %zu\\n", (int) PTHREAD_PROCESS_SHARED, (int) PTHREAD_MUTEX_ROBUST,
                           sizeof(pthread_mutex_t), sizeof(pthread_mutexattr_t));
                    return 0;
                }
                """);
        Path binary = dir.resolve("pthread_values");
        run(dir, "gcc", "-std=gnu11", "-Wall", "-o", binary.toString(), source.toString());
        String[] c = run(dir, binary.toString()).strip().split(" ");

        assertEquals(Integer.parseInt(c[0]), RobustMutex.PTHREAD_PROCESS_SHARED, "PTHREAD_PROCESS_SHARED");
        assertEquals(Integer.parseInt(c[1]), RobustMutex.PTHREAD_MUTEX_ROBUST, "PTHREAD_MUTEX_ROBUST");
        long mutexBytes = Long.parseLong(c[2]), attrBytes = Long.parseLong(c[3]);
        assertTrue(mutexBytes <= RobustMutex.BYTES, "sizeof(pthread_mutex_t) is " + mutexBytes + ", RobustMutex gives " + RobustMutex.BYTES);
        assertTrue(attrBytes <= RobustMutex.ATTR_BYTES, "sizeof(pthread_mutexattr_t) is " + attrBytes + ", RobustMutex gives " + RobustMutex.ATTR_BYTES);
    }

    private static boolean onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) return true;
        }
        return false;
    }

    /** The command's output; fails the test if it does not exit 0. */
    private static String run(Path dir, String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), String.join(" ", command) + " did not end");
        assertEquals(0, p.exitValue(), String.join(" ", command) + " failed:\n" + output);
        return output;
    }
}
