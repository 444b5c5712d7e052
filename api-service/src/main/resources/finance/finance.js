// The finance page: reads the finance routes with the key the user signs in with. Money is shown
// exactly as the API writes it (decimal strings); only the charts turn it into numbers.
(function () {
  'use strict';
  const STORE = 'kosmos.financeKey';
  const $ = (id) => document.getElementById(id);
  let key = null;

  function pad(n) { return String(n).padStart(2, '0'); }
  function day(d) { return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()); }
  function month(d) { return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1); }
  function addDays(d, n) { return new Date(d.getTime() + n * 86400000); }
  function addMonths(d, n) { return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1)); }

  async function call(path, options) {
    const r = await fetch(path, Object.assign({ headers: { Authorization: 'Bearer ' + key } }, options || {}));
    if (!r.ok) {
      let detail = r.status + '';
      try { detail = (await r.json()).detail || detail; } catch (e) { /* not JSON */ }
      const err = new Error(detail);
      err.status = r.status;
      throw err;
    }
    return r;
  }
  const json = async (path, options) => (await call(path, options)).json();

  function cell(tr, text, numeric) {
    const td = document.createElement('td');
    td.textContent = text;
    if (numeric) td.className = 'num';
    tr.appendChild(td);
    return td;
  }

  // Periods without revenue stay in the charts but not in the tables.
  const earning = (rows) => rows.filter((r) => Number(r.total_usd) !== 0);

  function fill(tableId, rows, columns) {
    const body = $(tableId).querySelector('tbody');
    body.replaceChildren();
    for (const r of rows) {
      const tr = document.createElement('tr');
      for (const c of columns) cell(tr, r[c] == null ? '' : String(r[c]), c.endsWith('_usd'));
      body.appendChild(tr);
    }
  }

  function chart(canvasId, report) {
    const periods = [...new Set(report.rows.map((r) => r.period_start))];
    const products = [...new Set(report.rows.map((r) => r.product))];
    const datasets = products.map((p) => ({
      label: p,
      data: periods.map((d) => {
        const row = report.rows.find((r) => r.period_start === d && r.product === p);
        return row ? Number(row.total_usd) : 0;
      }),
    }));
    const old = Chart.getChart(canvasId);
    if (old) old.destroy();
    new Chart($(canvasId), {
      type: 'bar',
      data: { labels: periods, datasets: datasets },
      options: { animation: false, scales: { x: { stacked: true }, y: { stacked: true } } },
    });
  }

  async function download(label, file, path) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.textContent = label;
    a.className = 'download';
    a.dataset.source = path;
    li.appendChild(a);
    $('downloads').appendChild(li);
    const text = await (await call(path)).text();
    a.href = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
    a.download = file;
    a.dataset.ready = 'true';
  }

  async function load(role) {
    const now = new Date();
    const today = day(now);
    const current = month(now);
    const previous = month(addMonths(now, -1));
    const dailyFrom = day(addDays(now, -29));
    const monthlyFrom = day(addMonths(now, -11));
    $('daily-range').textContent = dailyFrom + ' to ' + today;
    $('monthly-range').textContent = monthlyFrom.slice(0, 7) + ' to ' + current;
    const [daily, monthly, invoice, recNow, recBefore] = await Promise.all([
      json('/v1/admin/revenue?granularity=day&from=' + dailyFrom + '&to=' + today),
      json('/v1/admin/revenue?granularity=month&from=' + monthlyFrom + '&to=' + today),
      json('/v1/admin/invoices?month=' + current),
      json('/v1/admin/reconciliation?month=' + current),
      json('/v1/admin/reconciliation?month=' + previous),
    ]);
    $('open-month-total').textContent = '$' + invoice.total_usd;
    $('open-month-label').textContent = invoice.month + ', ' + invoice.status + ', ' + invoice.lines.length + ' invoice lines';
    $('reconciliation').replaceChildren();
    for (const rec of [recNow, recBefore]) {
      const li = document.createElement('li');
      li.dataset.month = rec.month;
      li.className = rec.matches ? 'ok' : 'bad';
      li.textContent = rec.month + ': ' + (rec.matches ? 'matches' : rec.mismatched_rows + ' rows differ');
      $('reconciliation').appendChild(li);
    }
    fill('daily-table', earning(daily.rows), ['period_start', 'product', 'total_usd']);
    fill('monthly-table', earning(monthly.rows), ['period_start', 'product', 'status', 'payg_usd', 'fees_usd',
      'overage_usd', 'detection_usd', 'adjustments_usd', 'total_usd']);
    fill('totals', monthly.totals, ['product', 'total_usd']);
    fill('top-accounts', monthly.top_accounts, ['account_id', 'total_usd']);
    chart('daily-chart', daily);
    chart('monthly-chart', monthly);
    $('downloads').replaceChildren();
    await Promise.all([
      download('Revenue per day', 'revenue-daily-' + today + '.csv',
        '/v1/admin/revenue?granularity=day&from=' + dailyFrom + '&to=' + today + '&format=csv'),
      download('Revenue per month', 'revenue-monthly-' + current + '.csv',
        '/v1/admin/revenue?granularity=month&from=' + monthlyFrom + '&to=' + today + '&format=csv'),
      download('Invoice ' + current, 'invoice-' + current + '.csv', '/v1/admin/invoices?month=' + current + '&format=csv'),
      download('Invoice ' + previous, 'invoice-' + previous + '.csv', '/v1/admin/invoices?month=' + previous + '&format=csv'),
      download('Usage per day, ' + current, 'usage-' + current + '.csv',
        '/v1/admin/usage?granularity=day&from=' + current + '-01&to=' + today + '&format=csv'),
    ]);
    if (role === 'admin') {
      $('admin-actions').hidden = false;
      $('close-month-label').textContent = previous;
      $('close-month').onclick = async () => {
        try {
          const r = await json('/v1/admin/invoices/' + previous + '/close', { method: 'POST' });
          $('close-result').textContent = r.month + ' closed: $' + r.total_usd;
        } catch (e) {
          $('close-result').textContent = e.message;
        }
      };
    } else {
      $('admin-actions').remove(); // not offered to finance
    }
    document.body.dataset.loaded = 'true';
  }

  async function signIn(candidate) {
    key = candidate;
    $('error').textContent = '';
    try {
      const me = await json('/v1/admin/me');
      sessionStorage.setItem(STORE, key);
      $('who').textContent = me.account_id + ' (' + me.role + ')';
      $('sign-in-panel').hidden = true;
      $('dashboard').hidden = false;
      $('sign-out').hidden = false;
      await load(me.role);
    } catch (e) {
      sessionStorage.removeItem(STORE);
      key = null;
      $('sign-in-panel').hidden = false;
      $('dashboard').hidden = true;
      $('error').textContent = e.status === 401 ? 'This key is not valid.'
        : e.status === 403 ? 'This key cannot read finance reports: a finance or admin key is needed.'
        : 'Could not load the reports: ' + e.message;
      document.body.dataset.loaded = 'error';
    }
  }

  $('sign-in').addEventListener('submit', (ev) => {
    ev.preventDefault();
    signIn($('key').value.trim());
  });
  $('sign-out').addEventListener('click', () => {
    sessionStorage.removeItem(STORE);
    location.reload();
  });
  const saved = sessionStorage.getItem(STORE);
  if (saved) signIn(saved);
})();
