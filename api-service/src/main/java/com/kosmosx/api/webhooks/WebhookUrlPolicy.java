package com.kosmosx.api.webhooks;

import com.kosmosx.api.errors.ApiProblem;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * SSRF protection for webhook URLs: http(s) only, no credentials in the URL, and every address the
 * host resolves to must be public (not loopback, private, link-local, unique-local, CGNAT,
 * multicast or unspecified). Checked at submit and again right before each delivery, so a name that
 * later resolves inward is caught. Hosts in the allow-list (local development, tests) skip the
 * address check.
 */
public final class WebhookUrlPolicy {
  static final int MAX_URL_CHARS = 2048;
  private final Set<String> allowedHosts;

  public WebhookUrlPolicy(Set<String> allowedHosts) {
    this.allowedHosts =
        allowedHosts.stream()
            .map(h -> h.toLowerCase(Locale.ROOT))
            .collect(java.util.stream.Collectors.toSet());
  }

  /** The parsed URL, or a 400 {@code invalid_webhook_url} saying why not. */
  public URI check(String url) {
    if (url == null || url.isBlank() || url.length() > MAX_URL_CHARS) {
      throw invalid(
          "Field 'webhook.url' must be an http(s) URL of at most "
              + MAX_URL_CHARS
              + " characters.");
    }
    URI uri;
    try {
      uri = new URI(url);
    } catch (URISyntaxException e) {
      throw invalid("Field 'webhook.url' is not a valid URL.");
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("https") && !scheme.equals("http")) {
      throw invalid("Field 'webhook.url' must use https (or http).");
    }
    if (uri.getHost() == null || uri.getRawUserInfo() != null || uri.getRawFragment() != null) {
      throw invalid("Field 'webhook.url' needs a host and takes no credentials or fragment.");
    }
    String host = uri.getHost().toLowerCase(Locale.ROOT);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    if (allowedHosts.contains(host)) {
      return uri;
    }
    InetAddress[] addresses;
    try {
      addresses = InetAddress.getAllByName(host);
    } catch (UnknownHostException e) {
      throw invalid("The webhook host " + host + " does not resolve.");
    }
    for (InetAddress a : addresses) {
      if (!isPublic(a)) {
        throw invalid(
            "The webhook host "
                + host
                + " resolves to a loopback, private or link-local address ("
                + a.getHostAddress()
                + "), which is refused.");
      }
    }
    return uri;
  }

  static boolean isPublic(InetAddress a) {
    if (a.isLoopbackAddress()
        || a.isAnyLocalAddress()
        || a.isLinkLocalAddress()
        || a.isSiteLocalAddress()
        || a.isMulticastAddress()) {
      return false;
    }
    byte[] b = a.getAddress();
    if (a instanceof Inet4Address) {
      int first = b[0] & 0xff;
      int second = b[1] & 0xff;
      // 0/8, CGNAT 100.64/10, 192.0.0/24, benchmarking 198.18/15, reserved 240/4.
      return first != 0
          && !(first == 100 && second >= 64 && second < 128)
          && !(first == 192 && second == 0 && (b[2] & 0xff) == 0)
          && !(first == 198 && (second == 18 || second == 19))
          && first < 240;
    }
    if (a instanceof Inet6Address) {
      // Unique local fc00::/7; IPv4-mapped addresses are judged as IPv4.
      if ((b[0] & 0xfe) == 0xfc) {
        return false;
      }
      boolean mapped = true;
      for (int i = 0; i < 10; i++) {
        mapped &= b[i] == 0;
      }
      if (mapped && (b[10] & 0xff) == 0xff && (b[11] & 0xff) == 0xff) {
        try {
          return isPublic(InetAddress.getByAddress(java.util.Arrays.copyOfRange(b, 12, 16)));
        } catch (UnknownHostException e) {
          return false;
        }
      }
    }
    return true;
  }

  static ApiProblem invalid(String detail) {
    return new ApiProblem(
        400, "invalid_webhook_url", "Invalid webhook URL", detail, Map.of("field", "webhook.url"));
  }
}
