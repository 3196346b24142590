/* Contact-center additions to sao (served as custom.js from the web root).

   Screen pop (addons/cc_telephony/doc/screenpop.rst): the server publishes
   {type: 'cc_screen_pop', ...} on the bus channel user:<uid> (PostgreSQL);
   where the database has no channels (SQLite) the same messages are polled
   from cc.screen.pop. Supervisor boards, and the agent's own console while
   it is not being edited, reload themselves. */
(function() {
    'use strict';

    var POLL_MS = 1000;
    var BOARD_RELOAD_MS = 5000;
    var BOARD_MODELS = ['cc.queue.board', 'cc.agent.board'];
    // The agent's console (My Console): the cc.agent form showing today's
    // figures; the administrators' agent form has none of them.
    var CONSOLE_MODEL = 'cc.agent';
    var CONSOLE_FIELD = 'today_calls';
    var SPARE_MODEL = 'party.party';
    var SPARE_DELAY_MS = 500;
    var TEXTS = {
        'zh_CN': {
            'call': '来电', 'ivr': 'IVR', 'wait': '排队等待',
            'seconds': '秒', 'choose': '选择来电客户',
            'new': '新客户', 'close': '关闭'},
        'en': {
            'call': 'Call from', 'ivr': 'IVR', 'wait': 'Waited',
            'seconds': 's', 'choose': 'Choose the caller',
            'new': 'New customer', 'close': 'Close'},
    };
    // The call form's Recording page (TEL-73): the recording streams from
    // a signed URL (cc.call.recording_url, a few minutes valid, one audited
    // listen each) into an <audio> element, so that the browser seeks
    // with Range requests instead of loading the whole file over RPC.
    var RECORDING_MODEL = 'cc.call';
    var RECORDING_FIELD = 'recording_filename';
    var RECORDING_TEXTS = {
        'zh_CN': {'play': '播放录音', 'download': '下载'},
        'en': {'play': 'Play Recording', 'download': 'Download'},
    };

    var cc = window.ccScreenPop = {
        user_id: null,
        mode: null,
        last_pop: null,
        seen: new Set(),
        shown: {},  // call_id -> {received, claimed, opened, visible}
        timer: null,
        prepare: true,  // keep a customer form ready (build_spare)
        spare: null,  // {key, tab}
    };

    function text(key, texts) {
        texts = texts || TEXTS;
        var lang = (Sao.i18n.getlang() || 'en').replace('-', '_');
        var table = texts[lang] || texts[lang.split('_')[0]] || texts.en;
        return table[key];
    }

    function rpc(method, params) {
        var session = Sao.Session.current_session;
        // No error dialog: polling must not bother the agent.
        return Sao.rpc({
            'method': method,
            'params': params.concat([{}]),
        }, session, true, false);
    }

    // Several tabs of one browser get the same message: the visible tab
    // claims the pop at once, hidden ones wait a little and pop only when no
    // tab claimed it (localStorage is shared by the tabs of one origin).
    function claim(message) {
        var key = 'cc_pop_' + (message.pop_id || message.call_id);
        var delay = document.visibilityState === 'visible' ? 0 : 300;
        var prm = jQuery.Deferred();
        window.setTimeout(function() {
            var owner = null;
            try {
                owner = window.localStorage.getItem(key);
                if (!owner) {
                    window.localStorage.setItem(key, Sao.Bus.id);
                    owner = window.localStorage.getItem(key);
                }
            } catch (e) {
                owner = Sao.Bus.id;  // No storage: every tab pops.
            }
            if (owner === Sao.Bus.id) {
                prm.resolve();
            } else {
                prm.reject();
            }
        }, delay);
        return prm;
    }

    function banner(message) {
        var parts = [text('call') + ' ' + (message.number || '')];
        if (message.queue) {
            parts.push(message.queue);
        }
        if (message.ivr_path) {
            parts.push(text('ivr') + ': ' + message.ivr_path);
        }
        if (message.wait_seconds !== null &&
                message.wait_seconds !== undefined) {
            parts.push(text('wait') + ' ' +
                Math.round(message.wait_seconds) + ' ' + text('seconds'));
        }
        var el = jQuery('#cc-screen-pop');
        if (!el.length) {
            el = jQuery('<div/>', {
                'id': 'cc-screen-pop',
                'class': 'cc-screen-pop',
                'role': 'status',
            }).appendTo('body');
        }
        el.empty().attr('data-call-id', message.call_id)
            .append(jQuery('<span/>', {
                'class': 'cc-screen-pop-text',
                'text': parts.join(' · '),
            }))
            .append(jQuery('<button/>', {
                'type': 'button',
                'class': 'close',
                'aria-label': text('close'),
                'text': '×',
            }).click(function() {
                el.hide();
            }))
            .show();
        window.clearTimeout(cc.banner_timer);
        cc.banner_timer = window.setTimeout(function() {
            el.hide();
        }, 30000);
    }

    // The customer form an earlier pop opened, if it is still open in a
    // tab and not being edited: the next caller replaces it (a form being
    // edited is left alone and the caller gets another tab).
    function replaceable(tab, message) {
        var screen = tab && tab.screen;
        return Boolean(message.res_id && screen &&
            ~Sao.Tab.tabs.indexOf(tab) &&
            screen.model_name === (message.model || 'party.party') &&
            screen.current_view &&
            screen.current_view.view_type === 'form' &&
            !screen.modified());
    }

    // When no prepared form is ready (calls in quick succession), the
    // earlier pop's form takes the next caller. Loading a caller into a
    // form that shows another one costs the browser more than into a form
    // that has shown none, so the prepared form comes first.
    function reuse(message) {
        var tab = cc.pop_tab;
        if (!replaceable(tab, message)) {
            return null;
        }
        tab.attributes.res_id = message.res_id;
        tab.show();
        return show_record(tab.screen, message.res_id).then(function() {
            return tab;
        });
    }

    // The earlier pop's form, once the next caller shows in another one:
    // removed as Sao.Tab.close does, without showing it first (close shows
    // the tab it closes, then its neighbour) and with nothing to save.
    function retire(tab, message) {
        if (!replaceable(tab, message) || tab === cc.pop_tab ||
                tab === Sao.Tab.tabs.get_current()) {
            return;
        }
        jQuery('#nav-' + tab.id).remove();
        jQuery('#' + tab.id).remove();
        Sao.Tab.tabs.splice(Sao.Tab.tabs.indexOf(tab), 1);
        if (tab._chat) {
            tab._chat.unregister();
            tab._chat = null;
        }
        jQuery('#tabs').trigger('ready');
    }

    // Screen.clear then load(ids), as sao reloads a form (Tab.Form.revision):
    // the form holds this caller only, not the earlier ones behind its
    // previous/next arrows. Then current_record and display, without first
    // displaying the form empty: the record's read starts at once. Callers
    // check first that no edit is lost.
    function show_record(screen, id) {
        screen.clear();
        screen.group.load([id]);
        screen.current_record = screen.group.get(id);
        return screen.display(true);
    }

    // Otherwise the caller goes into a customer form built beforehand, after
    // login and again once the browser is idle after each pop that used it
    // (building the form, its notebook pages and their lists, takes longer
    // than loading and showing a customer). It is the form sao builds for
    // Sao.Tab.create({model: 'party.party', res_id: ...}), kept out of the
    // tab list until a pop shows it; built for one session and language.
    function spare_key() {
        var session = Sao.Session.current_session;
        return session && session.user_id ? [session.database,
            session.user_id, session.session, Sao.i18n.getlang()].join(' ') :
            null;
    }

    function build_spare() {
        var key = spare_key();
        if (!cc.prepare || !key || cc.mode === null ||
                (cc.spare && cc.spare.key === key)) {
            return;
        }
        var tab = new Sao.Tab.Form(SPARE_MODEL, {
            'model': SPARE_MODEL,
            'context': {},
            'mode': ['form', 'tree'],
            'res_id': [],
        });
        var index = Sao.Tab.tabs.indexOf(tab);
        if (~index) {
            Sao.Tab.tabs.splice(index, 1);
        }
        cc.spare = {'key': key, 'tab': tab};
    }

    function schedule_spare() {
        window.clearTimeout(cc.spare_timer);
        cc.spare_timer = window.setTimeout(function() {
            if (window.requestIdleCallback) {
                window.requestIdleCallback(build_spare, {'timeout': 2000});
            } else {
                build_spare();
            }
        }, SPARE_DELAY_MS);
    }

    function take_spare(message) {
        var spare = cc.spare;
        if (!cc.prepare || !message.res_id || !spare ||
                spare.key !== spare_key() ||
                (message.model || 'party.party') !== SPARE_MODEL) {
            return null;
        }
        cc.spare = null;
        var tab = spare.tab;
        if (tab.view_prm.state() === 'rejected') {
            return null;
        }
        return tab.view_prm.then(function() {
            var screen = tab.screen;
            tab.attributes.res_id = message.res_id;
            Sao.Tab.tabs.push(tab);
            // What Sao.Tab.Form does for a res_id, then Sao.Tab.create.
            show_record(screen, message.res_id);
            Sao.Tab.add(tab);
            return tab;
        });
    }

    // Resolves with the earlier pop's form when the caller went into
    // another form and that one is to be retired once the caller shows.
    function open(message) {
        var previous = replaceable(cc.pop_tab, message) ? cc.pop_tab : null;
        var shown = take_spare(message);
        if (!shown) {
            previous = null;
            shown = reuse(message);
        }
        if (shown) {
            return shown.then(function(tab) {
                cc.pop_tab = tab;
                return previous;
            }, function() {
                return create(message);
            });
        }
        return create(message);
    }

    function create(message) {
        var attributes = {
            'model': message.model || 'party.party',
            'context': {},
            'mode': ['form', 'tree'],
        };
        if (message.res_id) {
            attributes.res_id = message.res_id;
        } else if (message.candidates && message.candidates.length) {
            attributes.domain = [['id', 'in', message.candidates]];
            attributes.mode = ['tree', 'form'];
            attributes.name = text('choose');
        } else {
            // cc_base's party.default_contact_mechanisms reads it.
            attributes.context = {'cc_new_number': message.new_number};
            attributes.name = text('new');
        }
        return Sao.Tab.create(attributes).then(function() {
            if (message.res_id) {
                cc.pop_tab = Sao.Tab.tabs.get_current();
            }
        });
    }

    // Resolve once the tab shows the record (or the list) with its data.
    function visible(message) {
        var prm = jQuery.Deferred();
        var started = Date.now();
        (function check() {
            var tab = Sao.Tab.tabs.get_current();
            var screen = tab && tab.screen;
            var ready = false;
            if (screen && screen.model_name === (message.model ||
                    'party.party')) {
                var record = screen.current_record;
                if (message.res_id) {
                    // Loaded and displayed: the name entry shows it.
                    var names = screen.current_view &&
                        screen.current_view.widgets &&
                        screen.current_view.widgets.name;
                    ready = record && record.id === message.res_id &&
                        Object.keys(record._loaded).length > 1 &&
                        (!names || names[0].get_value() ===
                            (record.field_get_client('name') || ''));
                } else if (message.candidates) {
                    ready = screen.group && screen.group.length ===
                        message.candidates.length;
                } else {
                    ready = record && record.id < 0;
                }
            }
            if (ready) {
                prm.resolve(Date.now());
            } else if (Date.now() - started > 10000) {
                prm.reject();
            } else {
                window.setTimeout(check, 10);
            }
        })();
        return prm;
    }

    cc.handle = function(message) {
        if (!message || message.type !== 'cc_screen_pop') {
            return;
        }
        var key = message.pop_id || message.message_id;
        // The bus replays its cache at every (re)login: ignore what is
        // stale, and what this tab has already shown.
        if (cc.seen.has(key) || (message.expires * 1000 < Date.now())) {
            return;
        }
        cc.seen.add(key);
        var received = Date.now();
        claim(message).done(function() {
            var claimed = Date.now();
            banner(message);
            var opened = null, previous = null;
            open(message).then(function(replaced) {
                opened = Date.now();
                previous = replaced || null;
                return visible(message);
            }).done(function(shown) {
                retire(previous, message);
                cc.shown[message.call_id] = {
                    'received': received,
                    'claimed': claimed,
                    'opened': opened,
                    'visible': shown,
                    'pop_id': message.pop_id,
                };
                jQuery('#cc-screen-pop').attr('data-shown', message.call_id);
                if (!cc.spare) {
                    schedule_spare();
                }
            });
        });
    };

    function poll() {
        if (!Sao.Session.current_session ||
                Sao.Session.current_session.user_id !== cc.user_id) {
            return;
        }
        rpc('model.cc.screen.pop.poll', [cc.last_pop]).then(
            function(result) {
                cc.last_pop = result.last_id;
                result.messages.forEach(cc.handle);
            }).always(function() {
                cc.timer = window.setTimeout(poll, POLL_MS);
            });
    }

    function start(user_id) {
        if (cc.user_id === user_id) {
            return;
        }
        if (cc.user_id !== null) {
            Sao.Bus.unregister('user:' + cc.user_id, cc.handle);
        }
        window.clearTimeout(cc.timer);
        cc.user_id = user_id;
        cc.last_pop = null;
        Sao.Bus.register('user:' + user_id, cc.handle);
        rpc('model.cc.screen.pop.mode', []).then(function(mode) {
            cc.mode = mode;
            if (mode === 'poll') {
                poll();
            }
            schedule_spare();
        }, function() {
            cc.mode = null;  // cc_telephony is not activated.
        });
    }

    // sao 8.0 asks again for the models that have chat whenever the last
    // answer was empty (none of this suite's models has chat), with a
    // synchronous request, for every tab it opens: each screen pop waited
    // for two server round trips before its form was built. The answer is
    // kept for the session instead (it is asked again after each login).
    var chat = Sao.common.MODELCHAT;
    if (chat && chat.load_names) {
        chat.hasOwn = function(model) {
            if (this._models === null) {
                this.load_names();
            }
            return Object.prototype.hasOwnProperty.call(this._models, model);
        };
    }

    // Sao.user_menu runs after each login (and preference change): the
    // session, hence the user id, is known there.
    var user_menu = Sao.user_menu;
    Sao.user_menu = function(preferences) {
        var result = user_menu.apply(this, arguments);
        var session = Sao.Session.current_session;
        if (chat) {
            chat._models = null;
        }
        if (session && session.user_id) {
            start(session.user_id);
            if (cc.mode) {
                schedule_spare();  // Preferences (language) changed.
            }
        }
        return result;
    };

    // sao 8.0 shows a wizard's next view before that step is done (its
    // records are still loading) and ignores a button pressed meanwhile:
    // an agent pressing Enter on "Look Up", then at once on "Open", lost
    // the second press. The press is replayed when the step is done.
    var wizard_process = Sao.Wizard.prototype.process;
    Sao.Wizard.prototype.process = function(state) {
        var busy = this.__processing || this.__waiting_response;
        var step = wizard_process.call(this, state);
        if (!busy) {
            this.cc_step = step;
        }
        return step;
    };
    var wizard_response = Sao.Wizard.prototype.response;
    Sao.Wizard.prototype.response = function(definition) {
        if (this.__processing && this.cc_step) {
            var state = this.state;
            this.cc_step.always(() => {
                if (this.state === state) {
                    wizard_response.call(this, definition);
                }
            });
            return;
        }
        return wizard_response.call(this, definition);
    };

    // The file name with a Play button; pressing it asks for a URL (errors
    // such as "not allowed" or "file missing" show as usual) and plays it.
    var RecordingPlayer = Sao.class_(Sao.View.Form.Widget, {
        init: function(view, attributes) {
            RecordingPlayer._super.init.call(this, view, attributes);
            this.el = jQuery('<div/>', {'class': 'cc-recording'});
            this.name = jQuery('<span/>', {'class': 'cc-recording-name'})
                .appendTo(this.el);
            this.play = jQuery('<button/>', {
                'type': 'button',
                'class': 'btn btn-default btn-sm cc-recording-play',
                'style': 'margin: 0 0.75em',
                'text': text('play', RECORDING_TEXTS),
            }).click(this.issue.bind(this)).appendTo(this.el);
            this.audio = jQuery('<audio/>', {
                'class': 'cc-recording-audio',
                'controls': true,
                'preload': 'metadata',
            }).hide().appendTo(this.el);
            this.download = jQuery('<a/>', {
                'class': 'cc-recording-download',
                'style': 'margin-left: 0.75em',
                'text': text('download', RECORDING_TEXTS),
            }).hide().appendTo(this.el);
            this.record_id = null;
        },
        display: function() {
            RecordingPlayer._super.display.call(this);
            var record = this.record;
            var filename = record ?
                record.field_get_client(this.field_name) : '';
            this.name.text(filename || '');
            this.play.prop('disabled', !filename || record.id < 0);
            if ((record ? record.id : null) !== this.record_id) {
                this.record_id = record ? record.id : null;
                this.stop();
            }
        },
        stop: function() {
            this.audio[0].pause();
            this.audio.removeAttr('src').hide();
            this.download.removeAttr('href').hide();
        },
        issue: function() {
            var record = this.record;
            var filename = this.name.text();
            Sao.rpc({
                'method': 'model.' + RECORDING_MODEL + '.recording_url',
                'params': [[record.id], record.get_context()],
            }, Sao.Session.current_session).done(function(urls) {
                if (record !== this.record) {
                    return;
                }
                this.audio.attr('src', urls[0]).show();
                this.download.attr({'href': urls[0], 'download': filename})
                    .show();
                this.audio[0].play().catch(function() {});
            }.bind(this));
        },
    });
    Sao.View.FormXMLViewParser.WIDGETS.cc_recording = RecordingPlayer;

    // The form's view is standard (a char field, which a view may name
    // only with the widgets trytond knows): the player replaces it here.
    var parse_field = Sao.View.FormXMLViewParser.prototype._parse_field;
    Sao.View.FormXMLViewParser.prototype._parse_field = function(
            node, attributes) {
        if (this.view.screen.model_name === RECORDING_MODEL &&
                attributes.name === RECORDING_FIELD) {
            attributes.widget = 'cc_recording';
        }
        return parse_field.call(this, node, attributes);
    };

    // The console's record is read again (live state, today's figures)
    // unless it is new or has changes not saved.
    function reload_console(screen) {
        var view = screen.current_view;
        var record = screen.current_record;
        if (!view || view.view_type !== 'form' || !view.widgets ||
                !(CONSOLE_FIELD in view.widgets) || !record ||
                record.id < 0 || screen.modified() || cc.console_busy) {
            return;
        }
        cc.console_busy = true;
        record.cancel();
        jQuery.when(screen.display()).always(function() {
            cc.console_busy = false;
        });
    }

    // Supervisor boards: reload the visible list every few seconds; the
    // agent's console: its record.
    window.setInterval(function() {
        if (document.visibilityState !== 'visible') {
            return;
        }
        var tab = Sao.Tab.tabs && Sao.Tab.tabs.get_current();
        var screen = tab && tab.screen;
        if (screen && ~BOARD_MODELS.indexOf(screen.model_name) &&
                screen.current_view &&
                screen.current_view.view_type === 'tree') {
            screen.search_filter(screen.screen_container.get_text());
        } else if (screen && screen.model_name === CONSOLE_MODEL) {
            reload_console(screen);
        }
    }, BOARD_RELOAD_MS);
}());
