package dev.panpipe.process;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command line that starts {@code mainClass} in a new JVM like this one: the same {@code java}, module
 * path and class path, and native access granted to the panpipe modules that are loaded (by name, never
 * ALL-UNNAMED unless panpipe itself is on the class path). What Java workers and tests' child processes use.
 */
public final class JavaCommand {
    private static final String[] NATIVE_MODULES = {"dev.panpipe.bindings", "dev.panpipe.core", "dev.panpipe.zerocopy"};

    private JavaCommand() {
    }

    /** {@code java [jvmOptions] <paths> -m module/mainClass args} (or {@code mainClass args} off the module path). */
    public static List<String> of(Class<?> mainClass, List<String> jvmOptions, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmOptions);
        List<String> nativeModules = new ArrayList<>();
        for (String m : NATIVE_MODULES) {
            if (ModuleLayer.boot().findModule(m).isPresent()) nativeModules.add(m);
        }
        String modulePath = System.getProperty("jdk.module.path");
        String classPath = System.getProperty("java.class.path");
        if (modulePath != null && !modulePath.isEmpty()) {
            cmd.add("--module-path");
            cmd.add(modulePath);
        }
        if (classPath != null && !classPath.isEmpty()) {
            cmd.add("-cp");
            cmd.add(classPath);
        }
        if (!nativeModules.isEmpty()) cmd.add("--enable-native-access=" + String.join(",", nativeModules));
        Module module = mainClass.getModule();
        if (module.isNamed()) {
            cmd.add("-m");
            cmd.add(module.getName() + "/" + mainClass.getName());
        } else {
            if (!nativeModules.isEmpty()) {
                cmd.add("--add-modules");
                cmd.add(String.join(",", nativeModules));
            } else {
                cmd.add("--enable-native-access=ALL-UNNAMED");   // panpipe itself is on the class path
            }
            cmd.add(mainClass.getName());
        }
        cmd.addAll(args);
        return cmd;
    }

    /** {@link #of(Class, List, List)} without JVM options. */
    public static List<String> of(Class<?> mainClass, String... args) {
        return of(mainClass, List.of(), List.of(args));
    }
}
