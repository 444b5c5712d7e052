package com.kosmosx.localstack;

import java.util.List;
import java.util.Map;

/**
 * One process of the local stack: how to start it and how to tell it is ready.
 *
 * @param name short name, also the log file and pid file name
 * @param mainClass the Java main class (all share the local stack's classpath)
 * @param args program arguments
 * @param heap maximum heap, e.g. {@code 512m}
 * @param env extra environment variables
 * @param readyLogLine a line the process prints when ready, or null
 * @param healthUrl a URL answering 200 when healthy, or null
 */
public record ServiceSpec(
    String name,
    String mainClass,
    List<String> args,
    String heap,
    Map<String, String> env,
    String readyLogLine,
    String healthUrl) {}
