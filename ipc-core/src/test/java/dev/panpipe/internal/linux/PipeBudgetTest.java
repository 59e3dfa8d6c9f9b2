package dev.panpipe.internal.linux;

import dev.panpipe.io.LeakCheck;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Enlarging children's pipes to 1 MiB by default must not make the user's pipes small. Linux counts every pipe
 * page an unprivileged user holds; past pipe-user-pages-soft (64 MiB) each new pipe of that user, in any
 * program, gets 8 KiB. 40 children with stdin and stdout piped asked for 80 MiB: from the 65th pipe on,
 * every pipe of the user was 8 KiB, the children's and all others. Run as user nobody ({@link PipeBudgetMain}
 * under setpriv), since root is not limited.
 */
@ExtendWith(LeakCheck.class)
class PipeBudgetTest {

    @Test
    @Timeout(120)
    void shouldEnlargeChildrensPipesOnlyWithinAShareOfTheUsersPipeLimit() throws Exception {
        assumeTrue(((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).intValue() == 0, "needs root, to become an unprivileged user");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")), "needs setpriv (util-linux)");
        long soft = Long.parseLong(Files.readAllLines(Path.of("/proc/sys/fs/pipe-user-pages-soft")).getFirst().strip());
        assumeTrue(soft > 0 && soft <= 16384, "the kernel's default pipe limit (this one: " + soft + " pages)");
        // Only the panpipe modules of this build: nobody cannot read the Maven repository under /root.
        String modules = Arrays.stream(System.getProperty("jdk.module.path").split(File.pathSeparator))
                .filter(e -> e.contains("native-bindings") || e.contains("ipc-core"))
                .collect(Collectors.joining(File.pathSeparator));
        List<String> cmd = List.of("/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:-UsePerfData",
                "--module-path", modules,
                "--patch-module", "dev.panpipe.core=" + Path.of("target", "test-classes").toAbsolutePath(),
                "--enable-native-access=dev.panpipe.bindings,dev.panpipe.core",
                "-m", "dev.panpipe.core/" + PipeBudgetMain.class.getName());
        Process child = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        String out, err;
        try (var o = child.getInputStream(); var e = child.getErrorStream()) {
            out = new String(o.readAllBytes(), StandardCharsets.UTF_8);
            err = new String(e.readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            child.getOutputStream().close();
        }
        int exit = child.waitFor();
        // A checkout under a private folder (mktemp -d, /root) cannot be read by nobody: nothing to learn here then.
        assumeTrue(exit == 0 || !(err.contains("boot layer") || err.contains("Permission denied")),
                "nobody cannot run this checkout's classes: " + err.strip());
        assertEquals(0, exit, "stdout: " + out + "\nstderr: " + err);
        Map<String, Long> r = new HashMap<>();
        for (String word : out.strip().split(" ")) {
            String[] kv = word.split("=");
            r.put(kv[0], Long.parseLong(kv[1]));
        }
        assertEquals(soft / 2, r.get("limit"), out);
        assertEquals(1 << 20, r.get("first"), "the first children get 1 MiB: " + out);
        assertEquals(65536, r.get("last"), "past the budget, the kernel's default: " + out);
        assertEquals(65536, r.get("fresh"), "and any other pipe the user makes keeps the default, not 8 KiB: " + out);
        assertTrue(r.get("held") > 0 && r.get("held") <= r.get("limit"), out);
        assertEquals(0, r.get("heldAfterClose"), "closing the children gives the budget back: " + out);
        assertEquals(1 << 20, r.get("again"), out);
    }
}
