// The rollout page follows its rollout live (server-sent events). A file,
// not an inline script: the Content-Security-Policy allows only this site's scripts.
(function(){
  var box=document.getElementById('rollout'); if(!window.EventSource) return;
  var shown=document.getElementById('status').textContent;
  var count=function(k){return parseInt((document.querySelector('#counts td[data-k="'+k+'"]')||{}).textContent,10)||0;};
  var bad=count('rejected')+count('failed');
  // The actions that fit and the problem apps are the server's to say: when
  // the status or the problems change, they are read again from this page
  // (no reload), so a finished rollout no longer offers pause or cancel.
  var refresh=function(){
    fetch(location.href,{credentials:'same-origin'}).then(function(res){return res.ok?res.text():'';}).then(function(html){
      if(!html) return;
      var doc=new DOMParser().parseFromString(html,'text/html');
      ['actions','problems'].forEach(function(id){
        var fresh=doc.getElementById(id), old=document.getElementById(id);
        if(fresh&&old){old.innerHTML=fresh.innerHTML;}
      });
    }).catch(function(){});
  };
  var es=new EventSource(box.dataset.events);
  es.onmessage=function(e){
    var r=JSON.parse(e.data), c=r.counts, done=c.released+c.rejected+c.failed+c.skipped+c.cancelled;
    document.getElementById('status').textContent=r.status;
    document.getElementById('reason').textContent=r.status_reason||'';
    document.getElementById('bar').style.width=(c.total?Math.floor(done*100/c.total):0)+'%';
    document.getElementById('summary').textContent=done+' / '+c.total;
    document.getElementById('cohort').textContent=Math.min(r.cohort+1,Math.max(r.cohorts,1));
    document.querySelectorAll('#counts td[data-k]').forEach(function(td){td.textContent=c[td.dataset.k];});
    if(r.status!==shown||c.rejected+c.failed!==bad){shown=r.status;bad=c.rejected+c.failed;refresh();}
    if(r.status==='completed'||r.status==='cancelled'||r.status==='failed'){es.close();}
  };
})();
