package com.kosmosx.api.db;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.OffsetDateTime;
import org.jdbi.v3.core.mapper.RowMapper;
import org.jdbi.v3.core.statement.StatementContext;

/** A row of the jobs table, the API's projection of the job-events topic. */
public record JobRow(
    String id,
    String accountId,
    String type,
    String status,
    String lane,
    String input,
    String output,
    String metadata,
    String webhook,
    Integer inputTokens,
    Integer outputTokens,
    Integer images,
    String errorCode,
    String errorMessage,
    OffsetDateTime createdAt,
    OffsetDateTime startedAt,
    OffsetDateTime completedAt) {

  public boolean terminal() {
    return status.equals("succeeded") || status.equals("failed") || status.equals("canceled");
  }

  /**
   * Maps {@link JobDao#COLUMNS} by hand. The reflective constructor mapper it replaces looked up
   * column and parameter mappers for every row, and rows are read on every GET and every answer of
   * a waiting submit (a seventh of the API's CPU in ./kosmos bench's pipeline).
   */
  public static final class Mapper implements RowMapper<JobRow> {
    @Override
    public JobRow map(ResultSet rs, StatementContext ctx) throws SQLException {
      return new JobRow(
          rs.getString("id"),
          rs.getString("account_id"),
          rs.getString("type"),
          rs.getString("status"),
          rs.getString("lane"),
          rs.getString("input"),
          rs.getString("output"),
          rs.getString("metadata"),
          rs.getString("webhook"),
          integer(rs, "input_tokens"),
          integer(rs, "output_tokens"),
          integer(rs, "images"),
          rs.getString("error_code"),
          rs.getString("error_message"),
          rs.getObject("created_at", OffsetDateTime.class),
          rs.getObject("started_at", OffsetDateTime.class),
          rs.getObject("completed_at", OffsetDateTime.class));
    }

    private static Integer integer(ResultSet rs, String column) throws SQLException {
      int v = rs.getInt(column);
      return rs.wasNull() ? null : v;
    }
  }
}
