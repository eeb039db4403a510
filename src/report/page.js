(function(){
  'use strict';
  function value(row, key){ return row.dataset[key]; }
  function compare(a, b, key, numeric){
    var x = value(a, key), y = value(b, key);
    if (numeric) { x = parseFloat(x); y = parseFloat(y); }
    if (x < y) return -1; if (x > y) return 1;
    var p = a.dataset.key, q = b.dataset.key;
    return p < q ? -1 : p > q ? 1 : 0;
  }
  function sortBy(table, th){
    var key = th.dataset.key, numeric = th.dataset.type === 'num';
    var ascending = th.getAttribute('aria-sort') !== 'ascending';
    table.querySelectorAll('th[aria-sort]').forEach(function(other){ other.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function(a, b){ var c = compare(a, b, key, numeric); return ascending ? c : -c; });
    var fragment = document.createDocumentFragment();
    rows.forEach(function(row){ fragment.appendChild(row); });
    body.appendChild(fragment);
  }
  document.querySelectorAll('table.sortable').forEach(function(table){
    table.querySelectorAll('th[data-key] button').forEach(function(button){
      button.addEventListener('click', function(){ sortBy(table, button.parentElement); });
    });
  });
  var filter = document.getElementById('agent-filter');
  var small = document.getElementById('small-only');
  var agents = document.getElementById('agents-table');
  var shown = document.getElementById('agent-count');
  function applyFilter(){
    var text = filter.value.trim().toLowerCase(), count = 0;
    Array.prototype.forEach.call(agents.tBodies[0].rows, function(row){
      var hide = (text !== '' && row.dataset.key.toLowerCase().indexOf(text) < 0) ||
                 (small.checked && row.dataset.small !== '1');
      row.hidden = hide;
      if (!hide) count++;
    });
    shown.textContent = count + ' of ' + agents.tBodies[0].rows.length + ' agents shown';
  }
  filter.addEventListener('input', applyFilter);
  small.addEventListener('change', applyFilter);
  applyFilter();
  function openTarget(){
    var target = location.hash && document.getElementById(location.hash.slice(1));
    for (var node = target; node; node = node.parentElement) {
      if (node.tagName === 'DETAILS') node.open = true;
    }
    if (target) target.scrollIntoView();
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();

  if (!/[?&]selftest=1(&|$)/.test(location.search)) return;
  var out = [], body = agents.tBodies[0];
  function visible(){ return Array.prototype.filter.call(body.rows, function(r){ return !r.hidden; }); }
  function check(name, ok, detail){ out.push((ok ? 'PASS ' : 'FAIL ') + name + (ok ? '' : ': ' + detail)); }
  function ordered(rows, key, numeric, direction){
    for (var i = 1; i < rows.length; i++) {
      if (direction * compare(rows[i - 1], rows[i], key, numeric) > 0) return false;
    }
    return true;
  }
  try {
    var total = body.rows.length;
    out.push('rows ' + total);
    var score = agents.querySelector('th[data-key=score] button');
    score.click();
    check('sort by score ascending', ordered(visible(), 'score', true, 1), 'rows out of order');
    out.push('order ' + JSON.stringify(visible().map(function(r){ return r.dataset.key; })));
    score.click();
    check('sort by score descending', ordered(visible(), 'score', true, -1), 'rows out of order');
    var name = agents.querySelector('th[data-key=key] button');
    name.click();
    check('sort by agent', ordered(visible(), 'key', false, 1), 'rows out of order');
    if (total > 0) {
      var needle = body.rows[total - 1].dataset.key;
      var expected = Array.prototype.filter.call(body.rows, function(r){
        return r.dataset.key.toLowerCase().indexOf(needle.toLowerCase()) >= 0; }).length;
      filter.value = needle;
      filter.dispatchEvent(new Event('input'));
      check('filter', visible().length === expected && expected >= 1, visible().length + ' rows, expected ' + expected);
      out.push('filtered ' + visible().length);
      filter.value = '';
      filter.dispatchEvent(new Event('input'));
      check('clear filter', visible().length === total, visible().length + ' rows');
    }
    check('charts drawn', document.querySelectorAll('figure svg').length === 2, 'missing chart');
  } catch (e) {
    window.__callqaErrors.push('selftest: ' + e);
  }
  out.push('errors ' + JSON.stringify(window.__callqaErrors));
  var pre = document.getElementById('selftest');
  pre.textContent = out.join('\n');
  pre.hidden = false;
})();
